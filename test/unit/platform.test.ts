import { describe, expect, it } from '@jest/globals';

import { formatPlatform, parsePlatform, platformMatches } from '../../src/reference/platform.js';

describe('platforms', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['Linux/ARM/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
  ])('parses %s', (input, expected) => {
    expect(parsePlatform(input)).toEqual(expected);
    expect(formatPlatform(parsePlatform(input))).toBe(input.toLowerCase());
  });

  it.each(['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/amd 64'])('rejects %j naming it', (input) => {
    expect(() => parsePlatform(input)).toThrow(`parse platform ${JSON.stringify(input)}`);
  });

  it.each([
    ['linux/amd64', 'linux/amd64', true],
    ['linux/amd64', 'linux/arm64', false],
    ['linux/amd64', 'windows/amd64', false],
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/arm64/v8', 'linux/arm64', true],
    ['linux/arm', 'linux/arm/v7', true],
    ['linux/arm', 'linux/arm/v6', false],
    ['linux/arm/v6', 'linux/arm/v6', true],
  ])('wanted %s vs offered %s → %s', (wanted, offered, expected) => {
    expect(platformMatches(parsePlatform(wanted), parsePlatform(offered))).toBe(expected);
  });
});
