import { postgresFactory } from '../helpers/services.js';
import { storeContract } from './store-contract.js';

storeContract(postgresFactory());
