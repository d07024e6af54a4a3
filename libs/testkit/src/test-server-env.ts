/**
 * The environment every in-process test server starts from: loopback, free ports, no auth, no
 * shutdown delay, no log noise. Each harness adds its own service's variables on top.
 */
export const LOCAL_TEST_SERVER_ENV: Readonly<Record<string, string>> = {
  HOST: '127.0.0.1',
  PORT: '0',
  ADMIN_PORT: '0',
  AUTH_MODE: 'none',
  SHUTDOWN_DELAY_MS: '0',
  LOG_LEVEL: 'silent',
};
