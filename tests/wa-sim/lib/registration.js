/**
 * What a companion asked for when it registered: Baileys puts `proto.DeviceProps` into the
 * ClientPayload's `devicePairingData.deviceProps` (Utils/validate-connection.js
 * generateRegistrationNode): `requireFullSync` is its `syncFullHistory`, and
 * `historySyncConfig` how much history it can take. Tests read it from GET /state.
 */
import { baileys } from './deps.js'

const { proto } = baileys

/**
 * @typedef {object} Registration
 * @property {string|null} os
 * @property {string|null} platformType DeviceProps.PlatformType name
 * @property {boolean} requireFullSync the device asked the phone for the full history
 * @property {Record<string, unknown>|null} historySyncConfig as the device sent it (plain JSON)
 */

/**
 * @param {any} payload a decoded proto.ClientPayload with devicePairingData
 * @returns {Registration}
 */
export function readRegistration(payload) {
  const bytes = payload?.devicePairingData?.deviceProps
  const props = bytes?.length ? proto.DeviceProps.decode(bytes) : proto.DeviceProps.create()
  const json = /** @type {any} */ (proto.DeviceProps.toObject(props, { enums: String, longs: Number, defaults: false }))
  return {
    os: json.os ?? null,
    platformType: json.platformType ?? null,
    requireFullSync: json.requireFullSync === true,
    historySyncConfig: json.historySyncConfig ?? null,
  }
}
