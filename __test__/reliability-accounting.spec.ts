import { reliabilityTest } from './reliability'

reliabilityTest('1. accounting under load (4 producers, slow listener, reject and dropOldest)', 'accounting')
