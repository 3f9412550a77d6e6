import { reliabilityTest } from './reliability'

reliabilityTest('3. wedged JS thread: producers never block, one not_responding, one responding', 'wedged')
