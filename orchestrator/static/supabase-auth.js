/**
 * supabase-auth.js: the console's email + password sign-in through Supabase Auth (GoTrue),
 * with plain fetch (no supabase-js, no build step). Where to sign in comes from the
 * orchestrator (`GET /console/config`: Supabase's URL and its public anon key).
 *
 * - signIn(): `POST {url}/auth/v1/token?grant_type=password` with the `apikey` header. A refusal
 *   is an AuthError in the console's language when its `error_code` is one the catalog knows
 *   ("Invalid login credentials"), else in Supabase's own words.
 * - The session (access and refresh token, and when the access token expires) is kept in
 *   sessionStorage: it survives a reload of the tab, never another tab or a closed browser.
 * - Before the access token expires (a minute before, or at three quarters of a shorter
 *   lifetime) it is refreshed (`grant_type=refresh_token`; the refresh token rotates) and
 *   `onToken` hands the new one on (the console gives it to its WaClient: the open stream goes
 *   on). A refresh the server refuses ends the session (`onSignedOut`); a network failure is
 *   retried while the token is still valid.
 * - signOut() forgets the session.
 */
import { t } from './i18n.js'

const STORE_KEY = 'wa-console-supabase'
const REFRESH_MARGIN_MS = 60_000
const RETRY_MS = 5_000

/** A sign-in or refresh Supabase refused (`status` 0: it could not be reached). */
export class AuthError extends Error {
  /** @param {number} status @param {string} message @param {string|null} [code] GoTrue's `error_code` */
  constructor(status, message, code = null) {
    super(message)
    this.name = 'AuthError'
    this.status = status
    this.code = code
  }
}

/** GoTrue's error codes the console says in its own words (the English is GoTrue's). */
const AUTH_ERRORS = /** @type {Record<string, string>} */ ({
  invalid_credentials: 'auth.error.invalidCredentials',
  email_not_confirmed: 'auth.error.emailNotConfirmed',
  user_banned: 'auth.error.userBanned',
  over_request_rate_limit: 'auth.error.rateLimited',
})

/**
 * @typedef {{url: string, anonKey: string}} SupabaseConfig
 * @typedef {{accessToken: string, refreshToken: string, expiresAt: number, lifetimeMs: number}} AuthSession
 *   expiresAt: ms since epoch, by this browser's clock (from expires_in: no clock skew)
 */

/**
 * How the console signs in: Supabase Auth's URL and anon key, or null (API tokens only, or an
 * orchestrator from before this route).
 * @param {typeof fetch} [fetchFn] @returns {Promise<SupabaseConfig|null>}
 */
export async function consoleConfig(fetchFn = globalThis.fetch.bind(globalThis)) {
  try {
    const response = await fetchFn('/console/config', { cache: 'no-store' })
    if (!response.ok) return null
    const body = await response.json()
    return body?.supabase ?? null
  } catch {
    return null
  }
}

export class SupabaseAuth {
  /**
   * @param {SupabaseConfig} config
   * @param {{onToken?: (token: string) => void, onSignedOut?: (reason: string) => void,
   *   fetch?: typeof fetch, storage?: Storage}} [options]
   */
  constructor(config, options = {}) {
    this.url = config.url.replace(/\/+$/, '')
    this.anonKey = config.anonKey
    this.onToken = options.onToken ?? (() => {})
    this.onSignedOut = options.onSignedOut ?? (() => {})
    this._fetch = options.fetch ?? globalThis.fetch.bind(globalThis)
    this._storage = options.storage ?? globalThis.sessionStorage
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._timer = null
    /** @type {AuthSession|null} */
    this.session = this._load()
  }

  /** The access token to send now, or null when signed out. */
  get token() {
    return this.session?.accessToken ?? null
  }

  /** Whether the stored access token is still valid (a little margin for the trip). */
  get fresh() {
    return !!this.session && this.session.expiresAt - Date.now() > 5_000
  }

  /** @param {string} email @param {string} password @returns {Promise<string>} the access token */
  async signIn(email, password) {
    const session = await this._grant('password', { email, password })
    this._keep(session)
    return session.accessToken
  }

  /** Exchange the refresh token for a new session now. @returns {Promise<string>} the access token */
  async refresh() {
    if (!this.session) throw new AuthError(401, t('auth.notSignedIn'))
    const session = await this._grant('refresh_token', { refresh_token: this.session.refreshToken })
    this._keep(session)
    this.onToken(session.accessToken)
    return session.accessToken
  }

  /** Keep refreshing the stored session before it expires (after signIn, or on a reload). */
  start() {
    this._schedule()
  }

  signOut() {
    if (this._timer) clearTimeout(this._timer)
    this._timer = null
    this.session = null
    this._storage.removeItem(STORE_KEY)
  }

  /** @param {'password'|'refresh_token'} grant @param {Record<string, string>} body @returns {Promise<AuthSession>} */
  async _grant(grant, body) {
    let response
    try {
      response = await this._fetch(`${this.url}/auth/v1/token?grant_type=${grant}`, {
        method: 'POST',
        headers: { apikey: this.anonKey, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        cache: 'no-store',
      })
    } catch {
      throw new AuthError(0, t('auth.unreachable'))
    }
    /** @type {any} */
    let payload = null
    try {
      payload = await response.json()
    } catch {
      payload = null
    }
    if (!response.ok || !payload?.access_token) {
      // GoTrue says it in `msg` (older versions: `error_description`; the gateway: `message`).
      const code = typeof payload?.error_code === 'string' ? payload.error_code : null
      const message = code && AUTH_ERRORS[code]
        ? t(AUTH_ERRORS[code])
        : payload?.msg ?? payload?.error_description ?? payload?.message ?? t('auth.failed', { status: String(response.status) })
      throw new AuthError(response.status, String(message), code)
    }
    const lifetimeMs = Number(payload.expires_in) * 1000
    return { accessToken: payload.access_token, refreshToken: payload.refresh_token, expiresAt: Date.now() + lifetimeMs, lifetimeMs }
  }

  /** @param {AuthSession} session */
  _keep(session) {
    this.session = session
    this._storage.setItem(STORE_KEY, JSON.stringify(session))
    this._schedule()
  }

  /** @returns {AuthSession|null} */
  _load() {
    try {
      const stored = JSON.parse(this._storage.getItem(STORE_KEY) ?? 'null')
      if (stored && typeof stored.accessToken === 'string' && typeof stored.refreshToken === 'string') return stored
    } catch {
      // a damaged entry: signed out
    }
    return null
  }

  _schedule() {
    if (this._timer) clearTimeout(this._timer)
    const session = this.session
    if (!session) return
    const margin = Math.min(REFRESH_MARGIN_MS, session.lifetimeMs / 4)
    const delay = Math.max(0, session.expiresAt - margin - Date.now())
    this._timer = setTimeout(() => void this._refreshNow(), delay)
  }

  async _refreshNow() {
    this._timer = null
    try {
      await this.refresh()
    } catch (err) {
      const status = err instanceof AuthError ? err.status : 0
      if (status === 0 && this.session && this.session.expiresAt > Date.now()) {
        // Unreachable for now: try again while the token still works.
        this._timer = setTimeout(() => void this._refreshNow(), RETRY_MS)
        return
      }
      this.signOut()
      this.onSignedOut(t('auth.ended'))
    }
  }
}
