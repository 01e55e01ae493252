import { lookup } from 'node:dns/promises';
import type { HostResolver } from '../domain/target';

/**
 * Host names to every address the system resolver gives (A and AAAA, hosts file included), as a connection
 * would see them: the SSRF guard refuses a name if any of its addresses is not public.
 */
export const dnsResolver: HostResolver = {
  async resolve(hostname) {
    const addresses = await lookup(hostname, { all: true, verbatim: true });
    return addresses.map((entry) => entry.address);
  },
};
