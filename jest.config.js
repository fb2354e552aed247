// ESM project ("type": "module") + ts-jest in ESM mode; needs Node's --experimental-vm-modules (see package.json).
const shared = {
  testEnvironment: 'node',
  // Keeps cloud SDKs' metadata probes on loopback (test/support/cloud-env.ts).
  setupFiles: ['<rootDir>/test/support/cloud-env.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // Sources use NodeNext "./x.js" specifiers; map them back to the .ts files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    // isolatedModules: ts-jest only transpiles; `npm run typecheck` does the type checking.
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/integration-setup.ts'],
      // Fails a file whose captured output holds a test secret (test/support/leak-scan.ts).
      testEnvironment: '<rootDir>/test/support/leak-scan-environment.ts',
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/integration-setup.ts'],
      // Fails a file whose captured output holds a test secret (test/support/leak-scan.ts).
      testEnvironment: '<rootDir>/test/support/leak-scan-environment.ts',
    },
    {
      // A kubelet + containerd on this machine (root): one test file, since there is one node per machine.
      ...shared,
      displayName: 'node',
      testMatch: ['<rootDir>/test/node/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/integration-setup.ts'],
    },
  ],
};
