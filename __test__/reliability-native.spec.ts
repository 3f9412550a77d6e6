import { reliabilityTest } from './reliability'

reliabilityTest('8. native code: loom model (and valgrind when FFI_EVENTS_VALGRIND=1)', 'native', 290_000)
