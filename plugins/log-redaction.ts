import type { FastifyRequest, FastifyServerOptions } from 'fastify'

// Query parameters that carry credentials: OAuth's own (access_token, id_token, code), and
// whatever a client or proxy names token, secret, password or key. A request that puts one in
// its URL is refused, but it is logged before it is refused.
const SENSITIVE_PARAMETER = /token|secret|passw|pwd|api[-_]?key|credential|signature|^(code|key|sig|auth|authorization|jwt|assertion)$/i
const QUERY_PARAMETER = /([?&])([^=&#\s]*)=([^&#\s]*)/g

function parameterName (raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

/** Text with the value of every sensitive `?name=value` / `&name=value` replaced by `[redacted]`. */
export function redactQueryStrings (text: string): string {
  if (!text.includes('=')) return text
  return text.replace(QUERY_PARAMETER, (whole, separator: string, name: string) =>
    SENSITIVE_PARAMETER.test(parameterName(name)) ? `${separator}${name}=[redacted]` : whole)
}

type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>

/**
 * Logger options no configuration may drop: credentials never reach a log line. The request
 * serializer is Fastify's own with the URL redacted; the message hook covers lines that quote
 * the URL in their text (Fastify's "Route GET:/x?… not found").
 */
export const LOG_REDACTION: Pick<LoggerOptions, 'redact' | 'serializers' | 'hooks'> = {
  redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  serializers: {
    req: (request: FastifyRequest) => ({
      method: request.method,
      url: redactQueryStrings(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort
    })
  },
  hooks: {
    logMethod (args, method) {
      method.apply(this, args.map((arg) => typeof arg === 'string' ? redactQueryStrings(arg) : arg) as Parameters<typeof method>)
    }
  }
}
