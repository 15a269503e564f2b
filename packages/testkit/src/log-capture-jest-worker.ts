import { installLogCapture } from './log-capture';

// jest `setupFiles` (jest.config.ts): tees each test worker's stdout/stderr into the run's
// capture directory for the end-of-run secret-leak scan.
installLogCapture();
