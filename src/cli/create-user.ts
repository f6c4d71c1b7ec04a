// `npm run user:create -- --username alice --role admin [--email alice@example.org]`
// The equivalent of Django's createsuperuser. The password comes from VIGIL_PASSWORD or, when
// that is unset, from a prompt that does not echo. The user service applies the password policy
// and audits the creation, as for a user created through the API. The embedded database admits one
// process at a time: while the server runs on it, this refuses (before asking for the password) and
// says to stop the server or to create the user through its API.
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { DataDirBusyError, dataDirHolder, SERVER_OWNER } from '../db/data-dir-lock.js'
import { openDatabase } from '../db/index.js'
import { ROLES, type Role } from '../db/schema.js'
import { HttpError } from '../errors.js'
import { CLI_ACTOR, createUser } from '../services/users.js'

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

async function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) fail('No VIGIL_PASSWORD set and no terminal to prompt on.')
  process.stdout.write(question)
  process.stdin.setRawMode(true)
  process.stdin.resume()
  process.stdin.setEncoding('utf8')
  return new Promise((resolve) => {
    let value = ''
    const onData = (ch: string) => {
      if (ch === '\r' || ch === '\n' || ch === '\u0004') {
        process.stdin.setRawMode(false)
        process.stdin.pause()
        process.stdin.off('data', onData)
        process.stdout.write('\n')
        resolve(value)
      } else if (ch === '\u0003') {
        process.exit(130)
      } else if (ch === '\u007f') {
        value = value.slice(0, -1)
      } else {
        value += ch
      }
    }
    process.stdin.on('data', onData)
  })
}

const { values } = parseArgs({
  options: { username: { type: 'string' }, email: { type: 'string' }, role: { type: 'string', default: 'admin' } }
})
if (!values.username) fail('Usage: npm run user:create -- --username NAME [--role admin|analyst|responder|viewer] [--email EMAIL]')
if (!ROLES.includes(values.role as Role)) fail(`--role must be one of ${ROLES.join(', ')}`)

const config = loadConfig()

/** The refusal while another process holds the embedded database. */
function busy(err: DataDirBusyError): never {
  const local = err.holder.hostname === hostname()
  fail(
    err.holder.owner === SERVER_OWNER && local
      ? `${err.reason}\nStop the server first, or create the user through its API as an admin: ` +
          `POST /api/users/ with {"username", "password", "role", "email"} (see the README).`
      : err.message
  )
}

if (!config.DATABASE_URL) {
  const holder = dataDirHolder(config.DATA_DIR)
  if (holder) busy(new DataDirBusyError(config.DATA_DIR, holder))
}
let password = process.env.VIGIL_PASSWORD
if (!password) {
  password = await promptHidden('Password: ')
  const again = await promptHidden('Password (again): ')
  if (password !== again) fail('Passwords do not match.')
}

let database
try {
  database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, timeoutMs: config.DB_TIMEOUT_MS, owner: 'npm run user:create' })
} catch (err) {
  // Taken while the password was typed.
  if (err instanceof DataDirBusyError) busy(err)
  throw err
}
try {
  await database.migrate()
  const user = await createUser(
    database.db,
    { actor: { label: CLI_ACTOR }, passwordMinLength: config.PASSWORD_MIN_LENGTH },
    { username: values.username, email: values.email ?? null, password, role: values.role as Role }
  )
  process.stdout.write(`created ${user.role} '${user.username}' (id ${user.id})\n`)
} catch (err) {
  if (err instanceof HttpError) fail(err.detail)
  throw err
} finally {
  await database.close()
}
