/**
 * APISIX's guide "Manage Secrets in AWS Secrets Manager", as data: the four admin calls with
 * their exact JSON bodies. Tests add only what must point at local stand-ins: `endpoint_url`
 * (the AWS emulator) and the upstream node (the echo server instead of httpbin.org).
 */
export const AWS_REGION = 'ap-southeast-2';
export const AWS_ACCESS_KEY_ID = 'AKIARK7HKSJVWAIKFOXR';
export const AWS_SECRET_ACCESS_KEY = '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';

export function walkthroughCalls(opts: { endpointUrl: string; upstreamNode: string }): Array<{ path: string; body: string }> {
  return [
    {
      path: '/apisix/admin/secrets/aws/john',
      body: `
{
  "region": "${AWS_REGION}",
  "access_key_id": "${AWS_ACCESS_KEY_ID}",
  "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
  "endpoint_url": "${opts.endpointUrl}"
}`,
    },
    {
      path: '/apisix/admin/consumers',
      body: `
{
  "username": "john"
}`,
    },
    {
      path: '/apisix/admin/consumers/john/credentials',
      body: `
{
  "id": "cred-john-key-auth",
  "plugins": {
    "key-auth": {
      "key": "$secret://aws/john/apisix-secrets/john-key-auth"
    }
  }
}`,
    },
    {
      path: '/apisix/admin/routes',
      body: `
{
  "id": "getting-started-anything",
  "uri": "/anything",
  "plugins": {
    "key-auth": {}
  },
  "upstream": {
    "type": "roundrobin",
    "nodes": {
      "${opts.upstreamNode}": 1
    }
  }
}`,
    },
  ];
}

export async function runWalkthrough(adminUrl: string, opts: { endpointUrl: string; upstreamNode: string }): Promise<number[]> {
  const statuses: number[] = [];
  for (const call of walkthroughCalls(opts)) {
    const res = await fetch(adminUrl + call.path, { method: 'PUT', body: call.body });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`PUT ${call.path} → ${res.status} ${text}`);
    statuses.push(res.status);
  }
  return statuses;
}

/** GET through a proxy with an optional apikey header; returns status and body text. */
export async function get(url: string, apikey?: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers: apikey === undefined ? {} : { apikey } });
  return { status: res.status, body: await res.text(), headers: res.headers };
}
