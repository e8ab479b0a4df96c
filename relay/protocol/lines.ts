// Where a line ends, by SMTP's rule: only CRLF. A bare CR or LF is the seam SMTP smuggling uses, so the
// intake refuses it and onward delivery never sends one; both ask this one function.
export const LF = 10;
export const CR = 13;

/** Position of the first bare CR or LF in chunk (given the byte before it), or -1. */
export function findBareLineEnd(chunk: Buffer, before: number): number {
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    if ((i === 0 ? before : chunk[i - 1]) !== CR) return i;
  }
  for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
    // a CR at the very end is judged by the next chunk's first byte
    if (i + 1 < chunk.length && chunk[i + 1] !== LF) return i;
  }
  if (before === CR && chunk.length > 0 && chunk[0] !== LF) return 0;
  return -1;
}
