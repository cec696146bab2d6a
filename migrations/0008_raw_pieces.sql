-- Raw uploads in pieces (Content-Range, each request well under Cloudflare's 100 MB body
-- limit): between pieces a session file keeps its R2 multipart upload id, the parts sent so far
-- and the SHA-256 state, as JSON (src/deploy/raw.rs `RawProgress`). NULL when no piece is
-- pending; cleared when the last piece completes the file.
ALTER TABLE upload_session_files ADD COLUMN raw_progress TEXT;
