// Runs the CLI from source in a child process (via tsx), for tests that need a separate process environment.
import { run } from '../../src/cli/main.js';

process.exitCode = await run(process.argv);
