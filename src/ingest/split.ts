// Splits a request body, fed in chunks of bytes, into records without ever holding the whole
// body: NDJSON (with or without a trailing newline, blank lines ignored), JSON objects
// concatenated with no separator (Splunk HEC), pretty-printed objects spanning lines, a JSON
// array of records, and an `{"events": [...]}` / `{"logs": [...]}` wrapper. The scanner only
// tracks strings and nesting; each record's text is parsed later, so a bad record costs one error
// and never the rest. The output does not depend on how the body was cut into chunks.

export interface Segment {
  /** 1-based line of the body where the record starts. */
  line: number
  /** The record's JSON text (absent when `error` is set). */
  text?: string
  /** The parsed value, when the splitter already had to parse the text. */
  value?: unknown
  /** Set when the bytes cannot be a record (not JSON, too large, unterminated). */
  error?: string
}

const LF = 0x0a
const CR = 0x0d
const SP = 0x20
const TAB = 0x09
const QUOTE = 0x22
const BACKSLASH = 0x5c
const LBRACE = 0x7b
const RBRACE = 0x7d
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const COMMA = 0x2c

const isSpace = (b: number) => b === SP || b === LF || b === CR || b === TAB

/** Enough of the body's start to recognise a wrapper object. */
const HEAD_BYTES = 256
const WRAPPER = /^\s*\{\s*"(?:events|logs)"\s*:\s*\[/

const enum State {
  /** Between top-level values (NDJSON / concatenated objects). */
  Top,
  /** Inside an array whose elements are records, between elements. */
  Container,
  /** Inside a record that is an object or array. */
  Record,
  /** Inside a record that is a bare value (string, number, ...) in a container. */
  Scalar,
  /** Skipping a top-level line that is not JSON, up to its newline. */
  Junk,
  /** A top-level value outgrew the limit: keeping the rest of its current line, to recover its lines. */
  Overflow,
  /** Skipping the rest of a line that is too long to keep. */
  Skip,
  /** After a wrapper's array: skipping the rest of the wrapper object. */
  Tail
}

export class RecordSplitter {
  private state = State.Top
  private depth = 0
  /** Depth of the container's elements, or -1 outside a container. */
  private containerDepth = -1
  private recordDepth = 0
  private inString = false
  private escape = false
  private line = 1
  private recordLine = 1
  /** Bytes of the open record from earlier chunks. */
  private parts: Buffer[] = []
  private partBytes = 0
  /** Whether the open record is still being kept (false once it outgrew the limit). */
  private storing = true
  private multiLine = false
  private started = false
  private head: Buffer | undefined
  private out: Segment[] = []
  private sawContent = false

  constructor(private readonly maxRecordBytes = 1024 * 1024) {}

  /** True while nothing but whitespace has been seen. */
  get empty(): boolean {
    return !this.sawContent
  }

  /** Feeds the next bytes; returns the records completed by them. */
  push(chunk: Buffer): Segment[] {
    if (!this.started) {
      this.head = this.head ? Buffer.concat([this.head, chunk]) : chunk
      if (this.head.length < HEAD_BYTES) return []
      chunk = this.begin()
    }
    this.scan(chunk)
    return this.take()
  }

  /** Signals the end of the body; returns the last records. */
  end(): Segment[] {
    if (!this.started) this.scan(this.begin())
    switch (this.state) {
      case State.Record:
        if (!this.storing) this.emitError(this.tooLarge())
        else this.finishRecord(this.collect(), false)
        break
      case State.Scalar:
        this.emitText(this.collect())
        break
      case State.Junk:
        this.emitError('Not a JSON object.')
        break
      case State.Overflow:
        this.finishOverflow(true)
        break
      default:
        break
    }
    this.state = State.Top
    return this.take()
  }

  private take(): Segment[] {
    const out = this.out
    this.out = []
    return out
  }

  /** Looks at the body's first bytes: a byte-order mark is dropped, a wrapper object opened. */
  private begin(): Buffer {
    this.started = true
    let body = this.head ?? Buffer.alloc(0)
    this.head = undefined
    if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3)
    const match = WRAPPER.exec(body.subarray(0, HEAD_BYTES).toString('latin1'))
    if (match) {
      this.sawContent = true
      for (let i = 0; i < match[0].length; i++) if (body[i] === LF) this.line++
      this.depth = 2
      this.containerDepth = 2
      this.state = State.Container
      body = body.subarray(match[0].length)
    }
    return body
  }

  private scan(buf: Buffer) {
    const n = buf.length
    // Where the open record starts in this chunk (it may have started in an earlier one).
    let start = 0
    let i = 0
    while (i < n) {
      const b = buf[i]
      switch (this.state) {
        case State.Top: {
          if (isSpace(b)) {
            if (b === LF) this.line++
            i++
            break
          }
          this.sawContent = true
          if (b === LBRACE) {
            this.open(State.Record, 0)
            start = i
            this.depth = 1
          } else if (b === LBRACKET) {
            this.depth = 1
            this.containerDepth = 1
            this.state = State.Container
          } else {
            this.recordLine = this.line
            this.state = State.Junk
          }
          i++
          break
        }
        case State.Container: {
          if (b === LF) this.line++
          else if (b === RBRACKET) {
            this.depth--
            this.containerDepth = -1
            this.state = this.depth === 0 ? State.Top : State.Tail
          } else if (b === LBRACE || b === LBRACKET) {
            this.open(State.Record, this.depth)
            start = i
            this.depth++
          } else if (b === QUOTE) {
            this.open(State.Scalar, this.depth)
            start = i
            this.inString = true
          } else if (!isSpace(b) && b !== COMMA) {
            this.open(State.Scalar, this.depth)
            start = i
          }
          i++
          break
        }
        case State.Record:
        case State.Tail: {
          // The hot loop: inside an object or array, tracking strings and nesting only.
          const tail = this.state === State.Tail
          const stop = tail ? 0 : this.recordDepth
          let depth = this.depth
          let inString = this.inString
          let escape = this.escape
          let brokenString = false
          for (; i < n; i++) {
            const c = buf[i]
            if (inString) {
              if (escape) escape = false
              else if (c === QUOTE) inString = false
              else if (c === BACKSLASH) escape = true
              else if (c === LF) {
                brokenString = true
                break
              }
            } else if (c === QUOTE) inString = true
            else if (c === LBRACE || c === LBRACKET) depth++
            else if (c === RBRACE || c === RBRACKET) {
              if (--depth === stop) break
            } else if (c === LF) {
              this.line++
              this.multiLine = true
            }
          }
          this.depth = depth
          this.inString = inString
          this.escape = escape
          if (i === n) break
          i++
          if (brokenString) {
            // A raw newline inside a string: JSON does not allow it, so the value is broken here.
            this.line++
            this.inString = false
            this.escape = false
            if (!tail) this.endBrokenRecord(buf, start, i)
            break
          }
          if (tail) {
            this.state = State.Top
            break
          }
          const fits = this.storing && this.partBytes + (i - start) <= this.maxRecordBytes
          const text = fits ? this.collect(buf, start, i) : undefined
          this.parts = []
          this.partBytes = 0
          this.state = this.containerDepth >= 0 ? State.Container : State.Top
          if (text === undefined) this.emitError(this.tooLarge())
          else this.finishRecord(text, true)
          break
        }
        case State.Scalar: {
          if (this.inString) {
            if (this.escape) this.escape = false
            else if (b === QUOTE) {
              this.inString = false
              i++
              this.state = State.Container
              this.emitText(this.collect(buf, start, i))
              break
            } else if (b === BACKSLASH) this.escape = true
            else if (b === LF) {
              this.line++
              this.inString = false
              this.state = State.Container
              this.collect()
              this.emitError('Not valid JSON: a string is not terminated.')
            }
            i++
            break
          }
          if (isSpace(b) || b === COMMA || b === RBRACKET || b === RBRACE) {
            // Leave the delimiter to the container.
            this.state = State.Container
            this.emitText(this.collect(buf, start, i))
            break
          }
          i++
          break
        }
        case State.Junk:
        case State.Skip: {
          const nl = buf.indexOf(LF, i)
          if (nl < 0) {
            i = n
            break
          }
          i = nl + 1
          if (this.state === State.Junk) this.emitError('Not a JSON object.')
          this.line++
          this.state = State.Top
          break
        }
        case State.Overflow: {
          const nl = buf.indexOf(LF, i)
          const end = nl < 0 ? n : nl
          this.parts.push(buf.subarray(i, end))
          this.partBytes += end - i
          if (nl < 0) {
            i = n
            if (this.partBytes > 2 * this.maxRecordBytes) {
              // Even the current line alone is too long: give up on it.
              this.finishOverflow(false)
              this.state = State.Skip
            }
            break
          }
          i = nl + 1
          this.line++
          this.finishOverflow(true)
          this.state = State.Top
          break
        }
      }
    }
    // Keep the open record's bytes for the next chunk, unless it outgrew the limit.
    if ((this.state === State.Record || this.state === State.Scalar) && this.storing) {
      if (start < n) {
        this.parts.push(buf.subarray(start))
        this.partBytes += n - start
      }
      if (this.partBytes > this.maxRecordBytes) {
        if (this.containerDepth >= 0 || this.state === State.Scalar) {
          // Inside an array the element's end is still found by structure; just stop keeping it.
          this.storing = false
        } else {
          // A top-level value this large is more likely a broken line that swallowed the lines
          // after it: recover those lines, then skip the rest of the current one.
          this.state = State.Overflow
          if (buf[n - 1] === LF) {
            // The kept bytes end with a whole line: nothing more to keep.
            this.finishOverflow(true)
            this.state = State.Top
          }
        }
      }
    }
  }

  private open(state: State.Record | State.Scalar, recordDepth: number) {
    this.state = state
    this.recordDepth = recordDepth
    this.recordLine = this.line
    this.parts = []
    this.partBytes = 0
    this.storing = true
    this.multiLine = false
  }

  /** The open record's text: the kept parts plus, when given, this chunk's bytes up to `end`. */
  private collect(buf?: Buffer, start = 0, end = 0): string {
    let text: string
    if (this.parts.length === 0) text = buf ? buf.toString('utf8', start, end) : ''
    else {
      const all = buf ? [...this.parts, buf.subarray(start, end)] : this.parts
      text = Buffer.concat(all).toString('utf8')
    }
    this.parts = []
    this.partBytes = 0
    return text
  }

  private emitText(text: string, line = this.recordLine) {
    this.out.push({ line, text })
  }

  private emitError(error: string, line = this.recordLine) {
    this.out.push({ line, error })
  }

  private tooLarge() {
    return `The record is larger than the limit of ${this.maxRecordBytes} bytes.`
  }

  /**
   * A value that ended (`complete`) or was cut off by the end of the body. One on a single line
   * is a record as is (parsed later). One spanning lines is either pretty-printed JSON or broken
   * lines that ran together: parse it now, and if it is not one value, each of its lines is a
   * record of its own.
   */
  private finishRecord(text: string, complete: boolean) {
    if (!this.multiLine) {
      if (complete) this.emitText(text)
      else this.emitError('Not valid JSON: the value is not terminated.')
      return
    }
    if (complete) {
      try {
        this.out.push({ line: this.recordLine, text, value: JSON.parse(text) })
        return
      } catch {
        // Not one value: recover line by line below.
      }
    }
    this.recoverLines(text.split('\n'))
  }

  private recoverLines(lines: string[]) {
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k].trim()
      if (line === '') continue
      if (Buffer.byteLength(line) > this.maxRecordBytes) this.emitError(this.tooLarge(), this.recordLine + k)
      else this.emitText(line, this.recordLine + k)
    }
  }

  /** A value broken by a raw newline inside a string; `end` is just past that newline. */
  private endBrokenRecord(buf: Buffer, start: number, end: number) {
    const text = this.storing ? this.collect(buf, start, end) : ''
    this.parts = []
    this.partBytes = 0
    // Earlier complete lines of a multi-line value may be records of their own.
    const lines = text.split('\n')
    lines.pop() // the empty remainder after the newline
    lines.pop() // the line with the broken string
    this.recoverLines(lines)
    this.emitError('Not valid JSON: a string is not terminated.', this.recordLine + lines.length)
    if (this.containerDepth >= 0) {
      this.depth = this.recordDepth
      this.state = State.Container
    } else {
      this.depth = 0
      this.state = State.Top
    }
  }

  /**
   * A top-level value outgrew the limit: the lines it swallowed are records of their own. When
   * `lastComplete` is false the last kept line was cut short and is an error.
   */
  private finishOverflow(lastComplete: boolean) {
    const lines = this.collect().split('\n')
    if (lastComplete) {
      this.recoverLines(lines)
    } else {
      lines.pop()
      this.recoverLines(lines)
      this.emitError(this.tooLarge(), this.recordLine + lines.length)
    }
    this.depth = 0
    this.inString = false
    this.escape = false
  }
}
