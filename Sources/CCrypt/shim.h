// libxcrypt (Debian's libcrypt-dev): crypt_rn checks bcrypt hashes ($2a$, $2b$, $2y$, $2x$).
#include <crypt.h>
