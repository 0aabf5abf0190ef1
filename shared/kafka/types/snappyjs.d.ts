// Types of npm:snappyjs@0.7.0 (the package ships none): the two functions we call.
declare const SnappyJS: {
  /** Raw snappy block; throws when its declared length exceeds `maxLength`. */
  uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
  compress(uncompressed: Uint8Array): Uint8Array;
};
export default SnappyJS;
