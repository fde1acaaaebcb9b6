#pragma once
// How a Driver implementation that lives outside runtime/device.cpp makes itself known to
// driver_for(). The sim device registers its factory here (once, before first use), so
// device.cpp never includes the interpreter and the runtime builds without it.

#include <functional>
#include <memory>

namespace qjit {

class Driver;

using DriverFactory = std::function<std::shared_ptr<Driver>()>;

// Installs the factory driver_for(Device::sim()) calls once per process. Until then,
// driver_for(sim) throws "the sim device is not built yet". Registering again replaces the
// factory for drivers not yet created; a sim driver already handed out stays.
void register_sim_driver_factory(DriverFactory factory);
bool sim_driver_registered();

}  // namespace qjit
