import fc from 'fast-check';
import { checkWebhookTarget, isPublicAddress, type TargetPolicy } from '../../lambdas/webhooks/domain/target';

const dns: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'rebind.example.com': ['93.184.216.34', '10.0.0.5'],
  'metadata.example.com': ['169.254.169.254'],
  'v6.example.com': ['2606:4700::1111'],
  'v6-internal.example.com': ['fd00:ec2::254'],
};
const policy: TargetPolicy = {
  allowPrivate: false,
  requireHttps: false,
  resolver: {
    resolve: async (host) => {
      const found = dns[host];
      if (!found) throw new Error('ENOTFOUND');
      return found;
    },
  },
};

describe('checkWebhookTarget', () => {
  it.each([
    'https://hooks.example.com/zapier/123',
    'http://hooks.example.com:8080/x?y=1',
    'https://v6.example.com/',
    'https://93.184.216.34/',
    'https://[2606:4700::1111]/',
  ])('accepts the public target %s', async (url) => {
    expect(await checkWebhookTarget(url, policy)).toMatchObject({ ok: true });
  });

  it.each([
    ['loopback', 'http://127.0.0.1/'],
    ['short loopback', 'http://127.1/'],
    ['decimal loopback', 'http://2130706433/'],
    ['hex loopback', 'http://0x7f000001/'],
    ['dotted hex loopback', 'http://0x7f.0.0.1/'],
    ['octal loopback', 'http://0177.0.0.1/'],
    ['localhost', 'http://localhost:3000/'],
    ['LOCALHOST with a dot', 'http://LOCALHOST./'],
    ['a .localhost name', 'http://api.localhost/'],
    ['IPv6 loopback', 'http://[::1]/'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/'],
    ['IPv4-mapped IPv6 in hex', 'http://[::ffff:7f00:1]/'],
    ['unspecified', 'http://0.0.0.0/'],
    ['zero', 'http://0/'],
    ['IPv6 unspecified', 'http://[::]/'],
    ['private 10/8', 'http://10.0.0.1/'],
    ['private 172.16/12', 'http://172.16.5.4/'],
    ['private 192.168/16', 'http://192.168.1.1/'],
    ['CGNAT', 'http://100.64.0.1/'],
    ['metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['decimal metadata', 'http://2852039166/'],
    ['IPv6 metadata', 'http://[fd00:ec2::254]/'],
    ['IPv6 link-local', 'http://[fe80::1]/'],
    ['NAT64 loopback', 'http://[64:ff9b::7f00:1]/'],
    ['6to4 loopback', 'http://[2002:7f00:1::]/'],
    ['broadcast', 'http://255.255.255.255/'],
    ['multicast', 'http://224.0.0.1/'],
    ['a name resolving to metadata', 'http://metadata.example.com/'],
    ['a name with one private address', 'http://rebind.example.com/'],
    ['a name resolving to an IPv6 ULA', 'http://v6-internal.example.com/'],
    ['an unresolvable name', 'http://nowhere.example.com/'],
    ['another scheme', 'ftp://hooks.example.com/'],
    ['file', 'file:///etc/passwd'],
    ['javascript', 'javascript:alert(1)'],
    ['not a URL', 'hooks.example.com/x'],
    ['credentials', 'https://user:pass@hooks.example.com/'],
  ])('refuses %s (%s)', async (_label, url) => {
    const result = await checkWebhookTarget(url, policy);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^The URL /);
  });

  it('requires https when told to', async () => {
    expect(
      (await checkWebhookTarget('http://hooks.example.com/', { ...policy, requireHttps: true })).ok,
    ).toBe(false);
    expect(
      (await checkWebhookTarget('https://hooks.example.com/', { ...policy, requireHttps: true })).ok,
    ).toBe(true);
  });

  it('allows private targets when told to, but still only http(s)', async () => {
    const local = { ...policy, allowPrivate: true };
    expect((await checkWebhookTarget('http://127.0.0.1:4000/hook', local)).ok).toBe(true);
    expect((await checkWebhookTarget('gopher://127.0.0.1/', local)).ok).toBe(false);
  });

  it('refuses every private IPv4 address in every spelling', async () => {
    const privateV4 = fc.oneof(
      fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
    );
    const spellings = (o: number[]) => {
      const n = (((o[0] ?? 0) << 24) >>> 0) + ((o[1] ?? 0) << 16) + ((o[2] ?? 0) << 8) + (o[3] ?? 0);
      const hex = (v: number) => v.toString(16).padStart(2, '0');
      return [
        o.join('.'),
        String(n),
        `0x${n.toString(16)}`,
        `0${n.toString(8)}`,
        o.map((v) => `0x${hex(v)}`).join('.'),
        `[::ffff:${o.join('.')}]`,
        `[::ffff:${hex(o[0] ?? 0)}${hex(o[1] ?? 0)}:${hex(o[2] ?? 0)}${hex(o[3] ?? 0)}]`,
      ];
    };
    await fc.assert(
      fc.asyncProperty(privateV4, fc.nat(6), async (octets, which) => {
        const host = spellings(octets)[which] ?? '';
        expect((await checkWebhookTarget(`http://${host}/hook`, policy)).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('classifies addresses', () => {
    expect(isPublicAddress('8.8.8.8')).toBe(true);
    expect(isPublicAddress('not-an-ip')).toBe(false);
    expect(isPublicAddress('::ffff:10.0.0.1')).toBe(false);
  });
});
