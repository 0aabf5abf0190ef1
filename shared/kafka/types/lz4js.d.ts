// Types of npm:lz4js@0.2.0 (the package ships none): the function we call.
declare const lz4js: {
  /** An LZ4 frame of `data`. */
  compress(data: Uint8Array): Uint8Array;
};
export default lz4js;
