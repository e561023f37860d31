import { postgresFactory } from '../helpers/services.js';
import { storeContract } from './store-contract.js';
import { keyStoreContract } from './key-store-contract.js';
import { controlStoreContract } from './control-store-contract.js';
import { destinationStoreContract } from './destination-store-contract.js';
import { scheduleStoreContract } from './schedule-store-contract.js';
import { messageDestinationContract } from './message-destination-contract.js';
import { destinationHealthContract } from './destination-health-contract.js';
import { dashboardContract } from './dashboard-contract.js';

const factory = postgresFactory();
storeContract(factory);
keyStoreContract(factory);
controlStoreContract(factory);
destinationStoreContract(factory);
scheduleStoreContract(factory);
messageDestinationContract(factory);
destinationHealthContract(factory);
dashboardContract(factory);
