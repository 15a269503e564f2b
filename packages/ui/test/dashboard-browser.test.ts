import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { BrowserContext, Page, chromium } from 'playwright-core';
import {
  EchoUpstream, EtcdProcess, PorticoProcess, registerSecretValue, startEchoUpstream, startEtcd, startPortico, waitFor,
} from '@portico/testkit';

/**
 * The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; nothing is downloaded) against a real `portico start`: a traditional node on
 * etcd, so the registry lists it as a data plane and its metrics feed the traffic page.
 * Screenshots of every page go to test-artifacts/ui/, and axe-core checks every page.
 */

const REPO = path.resolve(__dirname, '../../..');
const DIST = path.resolve(__dirname, '../dist');
const ARTIFACTS = path.join(REPO, 'test-artifacts', 'ui');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ADMIN_KEY = 'ui-test-admin-key-6b0f3c1d9e2a';
const VIEWER_KEY = 'ui-test-viewer-key-81c4a7f05d3e';
const CONSUMER_KEY = 'alice-key-5f2e9d1c';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

jest.setTimeout(120_000);

function ensureBuilt(): void {
  // make test builds the dashboard; a jest run on its own builds it once if it is missing.
  if (!fs.existsSync(path.join(DIST, 'index.html'))) {
    execFileSync('npm', ['run', 'build', '--workspace', 'packages/ui', '--silent'], { cwd: REPO, stdio: 'inherit' });
  }
}

interface Axe {
  run(ctx: unknown, opts: object): Promise<{ violations: Array<{ id: string; impact?: string; help: string; nodes: Array<{ target: unknown }> }> }>;
}

const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Functions passed to page.evaluate run in the browser: they reach its globals through
// globalThis (this file is compiled without DOM types).

/** axe-core in the page (evaluated over the DevTools protocol: the page's CSP allows no injected script tag). */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => ((globalThis as any).axe as Axe).run((globalThis as any).document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Screenshot plus axe: every page the test visits goes through here. */
async function checkPage(page: Page, name: string): Promise<void> {
  await shoot(page, name);
  expect({ page: name, violations: await seriousViolations(page) }).toEqual({ page: name, violations: [] });
}

async function launch(): Promise<{ context: BrowserContext; profile: string }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  return { context, profile };
}

describe('dashboard in a real browser', () => {
  let etcd: EtcdProcess;
  let echo: EchoUpstream;
  let node: PorticoProcess;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  const cspErrors: string[] = [];

  beforeAll(async () => {
    for (const [v, n] of [[ADMIN_KEY, 'admin key'], [VIEWER_KEY, 'viewer key'], [CONSUMER_KEY, 'consumer key']]) registerSecretValue(v, n);
    ensureBuilt();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    [etcd, echo] = await Promise.all([startEtcd({ name: 'ui' }), startEchoUpstream({ name: 'echo' })]);
    node = await startPortico({
      name: 'ui',
      role: 'traditional',
      etcd: [etcd.endpoint],
      extraConfig: {
        deployment: {
          admin: {
            admin_key_required: true,
            admin_key: [{ name: 'admin', key: ADMIN_KEY, role: 'admin' }, { name: 'viewer', key: VIEWER_KEY, role: 'viewer' }],
          },
        },
      },
    });
    ({ context, profile } = await launch());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await node?.stop();
    await Promise.all([echo?.close(), etcd?.stop()]);
  });

  it('asks for the key once, and measures the first paint', async () => {
    const t0 = Date.now();
    await page.goto(`${node.adminUrl}/ui/`);
    await page.getByRole('heading', { name: 'Portico dashboard' }).waitFor();
    const shown = Date.now() - t0;
    const paint = await page.evaluate(() => ((globalThis as any).performance.getEntriesByType('paint') as Array<{ name: string; startTime: number }>).map((e) => [e.name, Math.round(e.startTime)] as const));
    const line = `dashboard first meaningful paint (login form shown): ${shown} ms after navigation; ${paint.map(([n, t]) => `${n} ${t} ms`).join(', ')}`;
    process.stdout.write(line + '\n');
    fs.writeFileSync(path.join(ARTIFACTS, 'paint.txt'), line + '\n');
    await checkPage(page, '01-login');

    await page.getByLabel('Admin API key').fill('wrong-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('That key was not accepted.').waitFor();

    await page.getByLabel('Admin API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('role').filter({ hasText: 'admin' }).waitFor();
    // Kept for the tab: a reload does not ask again.
    await page.reload();
    await page.getByTestId('role').filter({ hasText: 'admin' }).waitFor();
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('portico.adminKey'))).toBe(ADMIN_KEY);
    expect(await page.evaluate(() => (globalThis as any).localStorage.length)).toBe(0);
  });

  it('creates an upstream, a route with key-auth and a consumer with a key through the forms', async () => {
    // Upstream: a validation error first, shown at the field it names.
    await page.goto(`${node.adminUrl}/ui/#/upstreams/new`);
    await page.locator('#item-id').fill('u1');
    await page.locator('#f-item--name').fill('echo');
    await page.getByRole('button', { name: 'Add node' }).click();
    await page.locator('#f-item--nodes--0--host').fill('127.0.0.1');
    await page.locator('#f-item--nodes--0--port').fill(String(echo.port));
    await page.locator('#f-item--nodes--0--weight').fill('1');
    await page.locator('#f-item--retries').fill('-1');
    await page.getByRole('button', { name: 'Save' }).click();
    const fieldError = page.locator('#f-item--retries-error');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toMatch(/\S/);
    expect(await page.locator('#f-item--retries').getAttribute('aria-invalid')).toBe('true');
    await checkPage(page, '02-upstream-field-error');
    await page.locator('#f-item--retries').fill('');
    // The raw JSON editor holds the same value as the form.
    const raw = JSON.parse(await page.locator('#raw-json').inputValue()) as { nodes: Array<{ port: number }> };
    expect(raw.nodes[0].port).toBe(echo.port);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Upstreams' }).waitFor();
    await page.getByRole('cell', { name: `127.0.0.1:${echo.port}` }).waitFor();
    await checkPage(page, '03-upstreams');

    await page.getByRole('link', { name: 'Routes' }).click();
    await page.getByRole('link', { name: 'Create route' }).click();
    await page.locator('#item-id').fill('r1');
    await page.locator('#f-item--name').fill('echo route');
    await page.locator('#f-item--uri').fill('/echo');
    await page.locator('#f-item--upstream_id').fill('u1');
    await page.getByLabel('Add plugin').selectOption('key-auth');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('group', { name: 'key-auth' }).waitFor();
    await checkPage(page, '04-route-editor');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Routes' }).waitFor();
    await page.getByRole('cell', { name: '/echo', exact: true }).waitFor();

    await page.getByRole('link', { name: 'Consumers' }).click();
    await page.getByRole('link', { name: 'Create consumer' }).click();
    await page.locator('#f-item--username').fill('alice');
    await page.getByLabel('Add plugin').selectOption('key-auth');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.locator('#f-item--plugins--key-auth--key').fill(CONSUMER_KEY);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'alice', exact: true }).waitFor();
    await checkPage(page, '05-consumers');

    // The proxy answers with that key once the node has the configuration.
    const res = await waitFor(async () => {
      const r = await fetch(`${node.proxyUrl}/echo`, { headers: { apikey: CONSUMER_KEY } });
      await r.arrayBuffer();
      return r.status === 200 ? r : undefined;
    }, { what: 'the route to answer 200 with the consumer key' });
    expect(res.status).toBe(200);
    const denied = await fetch(`${node.proxyUrl}/echo`);
    await denied.arrayBuffer();
    expect(denied.status).toBe(401);
  });

  it('shows the requests on the traffic page', async () => {
    await page.getByRole('link', { name: 'Traffic' }).click();
    const row = page.getByTestId('traffic-routes').getByRole('row', { name: /^r1 / });
    await row.waitFor();
    const cells = await row.getByRole('cell').allTextContents();
    // Requests, req/s, 2xx, 3xx, 4xx ...
    expect(Number(cells[0])).toBeGreaterThanOrEqual(2);
    expect(Number(cells[2])).toBeGreaterThanOrEqual(1);
    expect(Number(cells[4])).toBeGreaterThanOrEqual(1);
    await checkPage(page, '06-traffic');
  });

  it('shows the node on the cluster page, and an edit goes live on all nodes', async () => {
    await page.getByRole('link', { name: 'Cluster' }).click();
    await page.getByRole('cell', { name: 'connected', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'up to date' }).waitFor();
    await checkPage(page, '07-cluster');

    await page.getByRole('link', { name: 'Routes' }).click();
    await page.getByRole('link', { name: 'Edit route r1' }).click();
    await page.locator('#f-item--name').waitFor();
    await waitFor(async () => (await page.locator('#f-item--name').inputValue()) === 'echo route', { what: 'the route to load' });
    await page.locator('#f-item--name').fill('echo route v2');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('live-indicator').filter({ hasText: 'live on all nodes (1 of 1)' }).waitFor();
    await page.getByRole('cell', { name: 'echo route v2' }).waitFor();
    await checkPage(page, '08-routes-live');
  });

  it('a delete that is still referenced says so in words', async () => {
    await page.getByRole('link', { name: 'Upstreams' }).click();
    await page.getByRole('button', { name: 'Delete upstream u1' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('alert').filter({ hasText: 'This upstream is still used by route r1' }).waitFor();
    await checkPage(page, '09-delete-referenced');
    // Nothing was deleted.
    const r = await fetch(`${node.adminUrl}/apisix/admin/upstreams/u1`, { headers: { 'x-api-key': ADMIN_KEY } });
    expect(r.status).toBe(200);
  });

  it('every resource page renders and passes axe', async () => {
    const pages = ['services', 'consumer_groups', 'plugin_configs', 'global_rules', 'ssls', 'secrets', 'plugin_metadata', 'consumers/alice/credentials'];
    for (const p of pages) {
      await page.goto(`${node.adminUrl}/ui/#/${p}`);
      await page.locator('h1#page-title').waitFor();
      await page.getByText(/in all\.|yet\.|match these filters/).first().waitFor();
      await checkPage(page, `10-${p.replace(/\//g, '-')}`);
    }
    await page.goto(`${node.adminUrl}/ui/#/secrets/new`);
    await page.locator('#scope').selectOption('aws');
    await page.locator('#f-item--secret_access_key').waitFor();
    expect(await page.locator('#f-item--secret_access_key').getAttribute('type')).toBe('password');
    await checkPage(page, '11-secret-editor');
  });

  it('works on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${node.adminUrl}/ui/#/routes`);
    await page.getByRole('cell', { name: 'echo route v2' }).waitFor();
    const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await checkPage(page, '12-phone-routes');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('a viewer key gets a read-only dashboard', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Admin API key').fill(VIEWER_KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('role').filter({ hasText: 'viewer (read-only)' }).waitFor();
    await page.goto(`${node.adminUrl}/ui/#/routes`);
    await page.getByRole('cell', { name: 'echo route v2' }).waitFor();
    expect(await page.getByRole('link', { name: 'Create route' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'View route r1' }).click();
    await waitFor(async () => (await page.locator('#f-item--name').inputValue()) === 'echo route v2', { what: 'the route to load' });
    expect(await page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    expect(await page.locator('#f-item--name').getAttribute('readonly')).not.toBeNull();
    await checkPage(page, '13-viewer-route');
    // The API refuses the viewer's writes whatever the page does.
    const status = await page.evaluate(async (key) => (await fetch('/apisix/admin/routes/r1', { method: 'DELETE', headers: { 'x-api-key': key } })).status, VIEWER_KEY);
    expect(status).toBe(401);
  });

  it('ran under the Content-Security-Policy without a violation', () => {
    expect(cspErrors).toEqual([]);
  });
});

describe('dashboard with keyless loopback access', () => {
  it('opens without asking for a key', async () => {
    ensureBuilt();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const node = await startPortico({ name: 'ui-keyless', role: 'traditional' });
    const { context, profile } = await launch();
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(20_000);
      await page.goto(`${node.adminUrl}/ui/#/cluster`);
      await page.getByText('keyless loopback access').waitFor();
      expect(await page.getByTestId('role').textContent()).toBe('admin');
      expect(await page.getByLabel('Admin API key').count()).toBe(0);
      // Embedded store: no registry; the traffic page reads this node's own metrics listener.
      await page.getByText('No data plane is in the registry').waitFor();
      await page.getByRole('link', { name: 'Traffic' }).click();
      await page.getByText('From 1 node.').waitFor();
      await checkPage(page, '14-keyless-traffic');
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
      await node.stop();
    }
  });
});

describe('dashboard bundle', () => {
  it('is at most 200 KB gzipped', () => {
    ensureBuilt();
    const files: string[] = [];
    const walk = (d: string) => {
      for (const n of fs.readdirSync(d)) {
        const f = path.join(d, n);
        if (fs.statSync(f).isDirectory()) walk(f);
        else files.push(f);
      }
    };
    walk(DIST);
    const gz = files.reduce((n, f) => n + gzipSync(fs.readFileSync(f), { level: 9 }).length, 0);
    process.stdout.write(`dashboard bundle: ${files.length} files, ${(gz / 1024).toFixed(1)} KB gzipped\n`);
    expect(gz).toBeLessThanOrEqual(200 * 1024);
    // No file reaches outside: no absolute URL to another origin in the built code.
    for (const f of files) expect(fs.readFileSync(f, 'utf8')).not.toMatch(/(src|href)="https?:\/\//);
  });
});
