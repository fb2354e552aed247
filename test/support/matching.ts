import { expect } from '@jest/globals';

/** expect.stringMatching typed as the string it stands for, for expected objects compared with toEqual. */
export const matching = (pattern: RegExp): string => expect.stringMatching(pattern) as unknown as string;
