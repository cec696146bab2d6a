//! The `images` binding of tenant code (wrangler `{type: "images"}`), pure: `info(stream)` reads
//! the format and size from an image's first bytes (PNG, JPEG, GIF, WebP: lossy, lossless and
//! extended); `output({format})` names the content type. Transforms and draws are accepted and
//! NOT applied: `input(stream)...output()` passes the bytes through unchanged (README "Runtime
//! APIs"), which keeps apps whose image pipeline is optional (Astro, Next) working.

/// What `info` answers (Cloudflare's `{format, fileSize, width, height}`; `fileSize` is counted
/// by the caller, which sees the whole stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Bytes `info` needs at most: every supported header has its size in the first 64 KiB
/// (a JPEG's SOF marker can follow large EXIF/ICC segments; past this it is refused).
pub const INFO_PREFIX_MAX: usize = 64 * 1024;

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}
fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(s[0] as u32 | (s[1] as u32) << 8 | (s[2] as u32) << 16)
}

/// The format and size of the image starting with `b`, or Cloudflare's error text.
pub fn info(b: &[u8]) -> Result<ImageInfo, String> {
    let unsupported = || "ERROR 9412: Unsupported image type or invalid image".to_string();
    let found = if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        be32(b, 16).zip(be32(b, 20)).map(|(w, h)| ("image/png", w, h))
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        le16(b, 6).zip(le16(b, 8)).map(|(w, h)| ("image/gif", w, h))
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        webp(b).map(|(w, h)| ("image/webp", w, h))
    } else if b.starts_with(&[0xff, 0xd8]) {
        jpeg(b).map(|(w, h)| ("image/jpeg", w, h))
    } else {
        None
    };
    match found {
        Some((format, width, height)) if width > 0 && height > 0 => Ok(ImageInfo { format, width, height }),
        _ => Err(unsupported()),
    }
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        // Lossy: frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
        b"VP8 " if b.get(23..26)? == [0x9d, 0x01, 0x2a] => {
            Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff))
        }
        // Lossless: signature 0x2f, then 14 bits width-1 and 14 bits height-1.
        b"VP8L" if *b.get(20)? == 0x2f => {
            let v = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1))
        }
        // Extended: 24-bit canvas width-1 and height-1.
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xff.
        while *b.get(at)? == 0xff && *b.get(at + 1)? == 0xff {
            at += 1;
        }
        if *b.get(at)? != 0xff {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            // Start of frame (baseline, progressive, ...; not DHT/JPG/DAC): height then width.
            0xc0..=0xcf if ![0xc4, 0xc8, 0xcc].contains(&marker) => {
                return Some((be16(b, at + 7)?, be16(b, at + 5)?));
            }
            // Markers without a length.
            0xd0..=0xd9 | 0x01 => at += 2,
            _ => at += 2 + be16(b, at + 2)? as usize,
        }
    }
}

/// The content type `output({format})` answers, or the error for a format it cannot name.
pub fn output_type(format: &str) -> Result<&'static str, String> {
    Ok(match format {
        "image/png" | "png" => "image/png",
        "image/jpeg" | "jpeg" | "jpg" => "image/jpeg",
        "image/gif" | "gif" => "image/gif",
        "image/webp" | "webp" => "image/webp",
        "image/avif" | "avif" => "image/avif",
        "rgb" | "rgba" => return Err(format!("ERROR 9413: output format `{format}` is not supported here")),
        other => return Err(format!("ERROR 9413: unsupported output format `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend(w.to_be_bytes());
        v.extend(h.to_be_bytes());
        v.extend([8, 6, 0, 0, 0]);
        v
    }

    #[test]
    fn png_gif_webp_jpeg_sizes() {
        assert_eq!(info(&png(640, 480)), Ok(ImageInfo { format: "image/png", width: 640, height: 480 }));
        let gif = [b"GIF89a".as_slice(), &[0x2c, 0x01, 0x90, 0x00]].concat();
        assert_eq!(info(&gif), Ok(ImageInfo { format: "image/gif", width: 300, height: 144 }));
        // Lossy WebP 1x1 header (as cwebp writes it).
        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
        lossy.extend([0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x20, 0x03, 0x58, 0x02]);
        assert_eq!(info(&lossy).unwrap(), ImageInfo { format: "image/webp", width: 800, height: 600 });
        let mut lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let v: u32 = (99) | (49 << 14);
        lossless.extend(v.to_le_bytes());
        assert_eq!(info(&lossless).unwrap(), ImageInfo { format: "image/webp", width: 100, height: 50 });
        let mut ext = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        ext.extend([0xff, 0x03, 0x00, 0x1f, 0x00, 0x00]);
        assert_eq!(info(&ext).unwrap(), ImageInfo { format: "image/webp", width: 1024, height: 32 });
        // JPEG: SOI, an APP0 segment, a DHT (not a frame), then SOF2 (progressive).
        let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0, 0xff, 0xc4, 0x00, 0x02];
        jpg.extend([0xff, 0xff, 0xc2, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03]);
        assert_eq!(info(&jpg).unwrap(), ImageInfo { format: "image/jpeg", width: 640, height: 480 });
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [&b""[..], b"hello", b"\x89PNG\r\n\x1a\n", &png(0, 10), &[0xff, 0xd8, 0xff, 0xe0, 0x00]] {
            assert!(info(bad).unwrap_err().contains("9412"), "{bad:?}");
        }
    }

    #[test]
    fn output_formats() {
        assert_eq!(output_type("image/webp"), Ok("image/webp"));
        assert_eq!(output_type("jpeg"), Ok("image/jpeg"));
        assert_eq!(output_type("image/avif"), Ok("image/avif"));
        assert!(output_type("image/tiff").is_err());
    }
}
