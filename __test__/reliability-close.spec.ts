import { reliabilityTest } from './reliability'

reliabilityTest('6. close() under fire', 'close')
