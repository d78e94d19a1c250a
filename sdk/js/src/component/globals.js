// Installs the SDK's globals inside the component; imported first by entry.js.
import { installGlobals } from '../globals.js';

installGlobals();
