import { reliabilityTest } from './reliability'

reliabilityTest('5. teardown: hubs in sequence, workers exiting without close(), exiting processes', 'teardown')
