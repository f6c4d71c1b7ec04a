// Content-Encoding: the body as sent is at most INGEST_MAX_BODY_BYTES, but what it decompresses
// to is only known by decompressing it. Decompression streams and stops as soon as the output
// passes the limit, so a gzip bomb costs a few milliseconds, never the memory it claims. (The
// gzip trailer's size field is not trusted: it can lie, and a truncated body has none.)
import { createGunzip, createInflate, createInflateRaw, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib'

/** A problem with the body as a whole: nothing of it is stored. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly detail: string,
    /** What went wrong, for replies that have their own codes (Splunk HEC). */
    readonly reason: 'empty' | 'encoding' | 'too_large' | 'too_many_records' | 'unparseable' | 'structure'
  ) {
    super(detail)
  }
}

export type Coding = 'identity' | 'gzip' | 'deflate'

/** Reads a Content-Encoding header: identity, gzip (x-gzip) or deflate; anything else is a 415. */
export function parseContentEncoding(header: string | undefined): Coding {
  const codings = (header ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
  if (codings.length === 0) return 'identity'
  if (codings.length === 1) {
    if (codings[0] === 'gzip' || codings[0] === 'x-gzip') return 'gzip'
    if (codings[0] === 'deflate') return 'deflate'
  }
  throw new BodyError(415, `Unsupported Content-Encoding "${header}"; use gzip, deflate or none.`, 'encoding')
}

const SLICE = 64 * 1024

const tooLarge = (max: number) =>
  new BodyError(413, `The request body decompresses to more than ${max} bytes.`, 'too_large')

/**
 * Yields the decoded body in chunks. Throws BodyError 413 once more than `maxBytes` come out,
 * and 400 when the compressed data is corrupt.
 */
export async function* decodeBody(body: Buffer, coding: Coding, maxBytes: number): AsyncGenerator<Buffer> {
  if (coding === 'identity') {
    if (body.length > maxBytes) throw tooLarge(maxBytes)
    for (let i = 0; i < body.length; i += SLICE) yield body.subarray(i, i + SLICE)
    return
  }
  let stream: Gunzip | Inflate | InflateRaw
  if (coding === 'gzip') stream = createGunzip({ chunkSize: SLICE })
  else {
    // "deflate" is meant to be zlib-wrapped, but some clients send raw deflate: the zlib
    // header (CMF/FLG, a multiple of 31) tells them apart.
    const zlibWrapped = body.length >= 2 && (body[0] & 0x0f) === 8 && ((body[0] << 8) | body[1]) % 31 === 0
    stream = zlibWrapped ? createInflate({ chunkSize: SLICE }) : createInflateRaw({ chunkSize: SLICE })
  }
  stream.end(body)
  let total = 0
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > maxBytes) throw tooLarge(maxBytes)
      yield chunk
    }
  } catch (err) {
    if (err instanceof BodyError) throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw new BodyError(400, `The request body is not valid ${coding} data (${reason}).`, 'encoding')
  } finally {
    stream.destroy()
  }
}
