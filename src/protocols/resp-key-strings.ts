// A RESP key's bytes as the string the keyspace's Map is keyed by, without
// making a new string for a key seen a moment ago.
//
// Making the string is most of what a GET or SET costs in JavaScript: the
// call into Node's Buffer binding (toString('latin1')), a fresh string, and
// the Map hashing it at the lookup — 11% of the server's time at
// redis-benchmark SET -P16, against 1.7% for copying the value. A key used
// again (the same counter, session or cache entry) finds its string here,
// hash already computed, by a hash of its bytes and a byte-by-byte compare.
//
//   byte hash (FNV-1a) & (KEY_STRINGS - 1)
//        │
//        ▼
//   ┌─────────┬─────────┬─────┬─────────┐
//   │ "key:1" │  empty  │ ... │ "user:9"│   one string a slot, the last
//   └─────────┴─────────┴─────┴─────────┘   key that hashed there
//
// A miss costs the hash and, at worst, a compare that fails early; the
// string is then made as before and takes the slot.

/** Slots: a few hundred hot keys stay; 1,024 strings of at most KEY_STRING_MAX bytes, ~80 KB at worst. */
const KEY_STRINGS = 1024;

/** Keys longer than this are made afresh each time: hashing and comparing them costs as much as the string. */
export const KEY_STRING_MAX = 64;

const slots: (string | undefined)[] = new Array<string | undefined>(KEY_STRINGS).fill(undefined);

/** bytes[start, end) as a latin1 string (one character per byte), the one made last time when it is still in its slot. */
export function keyString(bytes: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length > KEY_STRING_MAX) return bytes.toString('latin1', start, end);
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  const slot = (hash ^ (hash >>> 15)) & (KEY_STRINGS - 1);
  const cached = slots[slot];
  if (cached !== undefined && cached.length === length && sameBytes(cached, bytes, start)) return cached;
  const made = bytes.toString('latin1', start, end);
  slots[slot] = made;
  return made;
}

/** Whether `text`'s characters are the bytes from `start` (the lengths are known equal). */
function sameBytes(text: string, bytes: Buffer, start: number): boolean {
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) !== bytes[start + k]) return false;
  return true;
}
