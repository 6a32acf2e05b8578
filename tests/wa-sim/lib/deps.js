/**
 * The simulator's only dependencies, borrowed from bridge-node/node_modules so that the
 * server speaks exactly the protocol of the Baileys build the bridge runs (no second copy,
 * no version drift). Resolved by path because tests/wa-sim has no node_modules of its own.
 */
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** Repository root (tests/wa-sim/lib -> ../../..). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
/** The bridge whose node_modules we borrow and whose process the tests drive. */
export const BRIDGE_DIR = path.join(REPO_ROOT, 'bridge-node')
const MODULES = path.join(BRIDGE_DIR, 'node_modules')

/** @param {string} rel path under bridge-node/node_modules */
const load = (rel) => import(pathToFileURL(path.join(MODULES, rel)).href)

/** Stock Baileys 7.0.0-rc14: proto, Curve, hkdf, AES-GCM, WABinary codec, constants. */
export const baileys = await load('@whiskeysockets/baileys/lib/index.js')
/** The `ws` package Baileys itself uses. */
export const ws = await load('ws/wrapper.mjs')
/** curve25519-js (libsignal's XEdDSA implementation): `verify` returns true for a valid signature. */
export const curve25519 = (await load('curve25519-js/lib/index.js')).default
/**
 * The `libsignal` Baileys itself depends on (1:1 sessions: SessionBuilder, SessionCipher,
 * ProtocolAddress, keyhelper, curve), so simulated contacts run the very same Double Ratchet.
 */
export const libsignal = (await load('libsignal/index.js')).default
/** Baileys' own sender-key (group) implementation: GroupCipher, GroupSessionBuilder, SenderKeyName, ... */
export const signalGroup = await load('@whiskeysockets/baileys/lib/Signal/Group/index.js')
/** libsignal's wire protobufs (PreKeyWhisperMessage, WhisperMessage): undecryptable messages take a pkmsg apart. */
export const libsignalProtobufs = (await load('libsignal/src/protobufs.js')).default
