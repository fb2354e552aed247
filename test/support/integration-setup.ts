import { jest } from '@jest/globals';

// Installs the credential-leak scan's hook, which leak-scan-environment.ts runs after the file's last test.
import './leak-scan.js';

// Real registry processes, token servers and HTTPS servers on a shared 2-core CI machine: hooks push images
// and start processes, so allow more than jest's 5 s default (per-project testTimeout is not honoured).
jest.setTimeout(60_000);
