import { reliabilityTest } from './reliability'

reliabilityTest('4. producer stall: one not_responding (stalled), then one responding', 'stall')
