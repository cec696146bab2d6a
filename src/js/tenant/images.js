// Runs in the tenant's isolate: the `images` binding (wrangler `{type: "images"}`) built around
// our TenantImages entrypoint stub (src/js/main.mjs), because `input(stream).transform(...)
// .output(...)` is a synchronous chain an RPC stub cannot offer. `info` answers format and size
// (decided by src/runtime/images.rs); transforms and draws are accepted and NOT applied: the
// output is the input's bytes, with the content type of what they are (README "Runtime APIs").

class ImageResult {
  #response;

  constructor(response) {
    this.#response = response;
  }

  response() {
    return this.#response.clone();
  }

  contentType() {
    return this.#response.headers.get('content-type');
  }

  image() {
    return this.#response.clone().body;
  }
}

class ImageTransformer {
  #stub;
  #stream;

  constructor(stub, stream) {
    this.#stub = stub;
    this.#stream = stream;
  }

  transform() {
    return this;
  }

  draw(image) {
    // The overlay is not drawn: its stream is released.
    if (image instanceof ReadableStream) image.cancel().catch(() => {});
    return this;
  }

  async output(options) {
    return new ImageResult(await this.#stub.output(this.#stream, options?.format));
  }
}

export function wrapImages(stub) {
  return {
    info(stream) {
      return stub.info(stream);
    },
    input(stream) {
      return new ImageTransformer(stub, stream);
    },
  };
}
