/**
 * The life of a test file's orchestrator double: a fresh one for each test, stopped after it
 * with the rendered trees unmounted, and the DOM closed after the last test. Import './setup.js'
 * before this module (the DOM must exist before React Testing Library loads).
 */
import { after, afterEach, beforeEach } from 'node:test'
import { cleanup } from '@testing-library/react'
import { FakeOrchestrator } from './server.js'
import { closeDom } from './setup.js'

/** Hands each test's fresh double to `use` before the test runs. */
export function serveEachTest(use: (server: FakeOrchestrator) => void): void {
  let server: FakeOrchestrator | null = null
  beforeEach(async () => {
    server = await new FakeOrchestrator().start()
    use(server)
  })
  afterEach(async () => {
    cleanup()
    await server?.stop()
    server = null
  })
  after(closeDom)
}
