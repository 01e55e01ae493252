/** Reads a variable the deployment must set; a missing one is a deployment bug, so fail at cold start. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is not set; the function's deployment is incomplete.`);
  }
  return value;
}
