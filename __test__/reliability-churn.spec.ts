import { reliabilityTest } from './reliability'

reliabilityTest('2. listener churn while 4 producers emit', 'churn')
