/**
 * A Host header value as RFC 9110 §7.2 allows it: `uri-host [ ":" port ]`, where uri-host is an
 * IP literal in brackets, an IPv4 address or a registered name (RFC 3986 §3.2.2: unreserved
 * characters, percent-encodings and sub-delims). Empty is allowed (a target without an
 * authority). Anything else (spaces, slashes, `@` userinfo, control characters, a second
 * colon outside brackets) is a 400 (RFC 9112 §3.2).
 */
const HOST = /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?$/;

export function validHost(value: string): boolean {
  return HOST.test(value);
}
