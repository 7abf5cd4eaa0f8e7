// CallbackGate: lets callbacks that may arrive after their owner is gone (an action's completion
// after the engine was destroyed) run only while the owner lives, and lets the owner's
// destructor wait for those already running.
//
// - A callback holds a shared_ptr to the gate and runs its body inside a Pass that entered.
// - Close shuts the gate and waits until no Pass is inside; a Pass made after it does not enter.
// - Many Passes may be inside at once.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <condition_variable>

#include "common/thread_annotations.h"

namespace flowrun {

class CallbackGate {
 public:
  CallbackGate() = default;
  CallbackGate(const CallbackGate&) = delete;
  CallbackGate& operator=(const CallbackGate&) = delete;

  // Inside the gate from construction to destruction, when entered().
  class Pass {
   public:
    explicit Pass(CallbackGate& gate) : gate_(gate), entered_(gate.Enter()) {}
    ~Pass() {
      if (entered_) gate_.Leave();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    // False when the gate was closed: the owner is gone, and the callback must not touch it.
    bool entered() const { return entered_; }

   private:
    CallbackGate& gate_;
    const bool entered_;
  };

  // Shuts the gate and returns once no Pass is inside.
  void Close();

 private:
  bool Enter();
  void Leave();

  Mutex mu_;
  std::condition_variable all_left_;
  bool open_ FLOWRUN_GUARDED_BY(mu_) = true;
  int inside_ FLOWRUN_GUARDED_BY(mu_) = 0;
};

}  // namespace flowrun
