// SecretSource: where `secrets.<NAME>` values come from (the environment or a file, chosen by the
// service; see config/secrets.h). The engine reads them once, to resolve `secrets.NAME` in
// expressions and to build its SecretRedactor.
//
// Thread-safety: implementations must be safe to call from many threads.
#pragma once

#include "common/json.h"

namespace flowrun {

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // Every secret as an object of name -> string value.
  virtual Json All() const = 0;
};

}  // namespace flowrun
