/**
 * The base64 check of wire-values.ts against the regular expression it replaced (kept here as
 * the reference): both must accept and reject exactly the same strings, and accepted strings
 * must decode to the same bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/contract/errors.js';
import { decodeBase64, decodeValue, isBase64Text } from '../../src/protocols/jsonrpc/wire-values.js';

/** The former definition: alphabet characters, at most two '=', length not 1 mod 4. */
const REFERENCE = /^[A-Za-z0-9+/]*={0,2}$/;
const referenceAccepts = (s: string): boolean => REFERENCE.test(s) && s.length % 4 !== 1;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Characters a near-miss may contain: padding, whitespace, url-safe, non-ASCII, lone surrogate. */
const INTRUDERS = [
  '=',
  ' ',
  '\n',
  '\t',
  '\r',
  '-',
  '_',
  '!',
  '.',
  '\0',
  'é',
  'Ł',
  '\u0141',
  '\uff21',
  '\ud800',
  '😀',
];

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function check(s: string): void {
  const expected = referenceAccepts(s);
  assert.equal(isBase64Text(s), expected, `isBase64Text(${JSON.stringify(s)})`);
  const bytes = decodeBase64(s);
  assert.equal(bytes !== undefined, expected, `decodeBase64(${JSON.stringify(s)})`);
  if (expected) {
    assert.deepEqual(bytes, Buffer.from(s, 'base64'), `bytes of ${JSON.stringify(s)}`);
    const viaValue = decodeValue('binary', s, 'echo: data') as Uint8Array;
    assert.deepEqual(Buffer.from(viaValue), Buffer.from(s, 'base64'));
  } else {
    assert.throws(
      () => decodeValue('binary', s, 'echo: data'),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        err.message === 'echo: data must be a base64 string (bytes travel as base64)',
      JSON.stringify(s),
    );
  }
}

describe('jsonrpc base64 check (same verdicts as the former regular expression)', () => {
  it('edge cases', () => {
    const cases = [
      '',
      '=',
      '==',
      '===',
      'A',
      'A=',
      'A==',
      'AA',
      'AA=',
      'AA==',
      'AA===',
      'AAA',
      'AAA=',
      'AAA==',
      'AAAA',
      'AAAA=',
      'AAAA==',
      'AAAAA',
      'aGk',
      'aGk=',
      'aGl=',
      'aGk==',
      'aGVsbG8',
      'aGVsbG8=',
      'AA=A',
      'A=AA',
      '=AAA',
      'AA==AA==',
      'A=B=',
      'AAAA\n',
      '\nAAAA',
      'AA AA',
      ' AAAA',
      'AAAA ',
      'AA\tA',
      'AAA\r',
      '-_-_',
      'ab-c',
      'ab_c',
      '+/+/',
      '////',
      '++++',
      'AAA\0',
      'AAAé',
      'AAAŁ',
      'AAA\u0141',
      'AA\ud800A',
      'AA😀',
      'QQ==\n',
      'QQ==\r\n',
      'QQ%3D%3D',
      'QQ==\u3000',
    ];
    for (const s of cases) check(s);
    // The audit's case: unpadded input stays accepted.
    assert.equal(isBase64Text('aGk'), true);
    assert.deepEqual(decodeBase64('aGk'), Buffer.from('hi'));
  });

  it('random canonical encodings and their near misses', () => {
    const rand = prng(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    for (let n = 0; n < 3000; n++) {
      const bytes = Buffer.alloc(Math.floor(rand() * 40));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      const valid = bytes.toString('base64');
      check(valid);
      check(valid.replace(/=+$/, '')); // unpadded
      const chars = [...valid];
      const at = Math.floor(rand() * (chars.length + 1));
      chars.splice(at, rand() < 0.5 ? 0 : 1, pick(INTRUDERS)); // insert or replace one character
      check(chars.join(''));
      check(`${valid}${'='.repeat(1 + Math.floor(rand() * 3))}`); // padding too long, or mod 4 off
    }
  });

  it('random strings over the alphabet and intruders', () => {
    const rand = prng(42);
    const pool = [...ALPHABET, ...INTRUDERS, '=', '='];
    for (let n = 0; n < 5000; n++) {
      const len = Math.floor(rand() * 14);
      let s = '';
      // Mostly alphabet characters, so that accepted strings are common too.
      for (let i = 0; i < len; i++)
        s += rand() < 0.85 ? ALPHABET[Math.floor(rand() * 64)] : pool[Math.floor(rand() * pool.length)];
      check(s);
    }
  });

  it('long strings: a single bad character anywhere is caught', () => {
    const rand = prng(7);
    const valid = Buffer.from(Array.from({ length: 48 * 1024 }, (_, i) => (i * 131) & 0xff)).toString(
      'base64',
    );
    check(valid);
    for (let n = 0; n < 40; n++) {
      const at = Math.floor(rand() * valid.length);
      const bad = INTRUDERS[n % INTRUDERS.length] as string;
      check(valid.slice(0, at) + bad + valid.slice(at + 1));
    }
  });
});
