/** Something that listens like `net.Server` does (an `http.Server`, an `SMTPServer`). */
interface Listener {
  listen(port: number, host: string, callback: () => void): unknown;
  once(event: 'error', callback: (error: NodeJS.ErrnoException) => void): unknown;
  removeListener(event: 'error', callback: (error: NodeJS.ErrnoException) => void): unknown;
}

/**
 * Starts `server` on `host:port` (port 0: a free one) and resolves once it listens; an error while starting (the
 * port is taken) rejects, and `describe` may turn it into a message that says what to change. Every local server
 * binds to the loopback address by default.
 */
export async function listen(
  server: Listener,
  options: { port?: number; host?: string; describe?: (error: NodeJS.ErrnoException) => Error } = {},
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(options.describe?.(error) ?? error);
    server.once('error', onError);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}
