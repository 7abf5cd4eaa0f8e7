#include "common/sqlite/error.h"

#include <sqlite3.h>

namespace flowrun::sqlite {

std::string ErrorText(sqlite3* db, int rc) { return db ? sqlite3_errmsg(db) : sqlite3_errstr(rc); }

}  // namespace flowrun::sqlite
