// Tokenizers for packed batches: a byte-level tokenizer is built in (UTF-8 bytes, vocabulary
// 256); any other is a function from text to ids (e.g. gpt-tokenizer's `encode`, which ships its
// ranks in the npm package).

/** Text → token ids. */
export type Tokenizer = (text: string) => Int32Array;

const encoder = new TextEncoder();

/** UTF-8 bytes as tokens (vocabulary 256). */
export const byteTokenizer: Tokenizer = (text) => Int32Array.from(encoder.encode(text));

/** Byte-level token count of a text (its UTF-8 length) without materialising the ids. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
