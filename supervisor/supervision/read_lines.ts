/**
 * Splits a byte stream (a child's stdout or stderr) into text lines.
 *
 * @module
 */

/**
 * Yields the lines of `stream` without their `\n` or `\r\n`, the last one even when it has
 * no newline. Invalid UTF-8 is replaced, never fatal.
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const end = newline > 0 && buffered[newline - 1] === "\r" ? newline - 1 : newline;
      yield buffered.slice(0, end);
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered.length > 0) yield buffered;
}
