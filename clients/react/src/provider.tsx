/**
 * WhatsAppProvider: one WaClient connection and one WaStore for everything below it.
 */
'use client'

import { WaClient, type WaClientOptions } from '@wa-helpdesk/client'
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState } from 'react'
import { WaStore } from './store.js'

interface ProviderBase {
  children?: ReactNode
  /** The hooks' session when they name none (default: the options' `session`, else the client's first followed session, else 'default'). */
  session?: string
  /** How long changes are gathered before components re-render, in ms (16, about a frame; 0: one task's). */
  batchMs?: number
}

export type WhatsAppProviderProps = ProviderBase &
  (
    | {
        /** A client the app made: the app connects and closes it (it may outlive the provider). */
        client: WaClient
        options?: undefined
      }
    | {
        /**
         * The provider makes the client from these (read once, at mount: give the provider a new
         * `key` to start over with others), connects it at mount and closes it at unmount.
         */
        options: WaClientOptions
        client?: undefined
      }
  )

const StoreContext = createContext<WaStore | null>(null)

export function WhatsAppProvider(props: WhatsAppProviderProps): ReactNode {
  const { options } = props
  // A client of our own: made once (options are read at mount), connected while mounted.
  const [own] = useState<WaClient | null>(() => (props.client ? null : new WaClient(options as WaClientOptions)))
  const client = props.client ?? (own as WaClient)
  const session = props.session ?? options?.session
  const store = useMemo(() => new WaStore(client, { session, batchMs: props.batchMs }), [client, session, props.batchMs])

  useEffect(() => store.attach(), [store])

  useEffect(() => {
    if (!own) return undefined
    // A refused token, or close() before the snapshots: the link state says so (useConnection).
    own.connect().catch(() => undefined)
    return () => own.close()
  }, [own])

  return <StoreContext.Provider value={store}>{props.children}</StoreContext.Provider>
}

/** The provider's store (for hooks of your own: useWaStore().get/subscribe). */
export function useWaStore(): WaStore {
  const store = useContext(StoreContext)
  if (!store) throw new Error('@wa-helpdesk/react: the hooks need a <WhatsAppProvider> above them')
  return store
}
