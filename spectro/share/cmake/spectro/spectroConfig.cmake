# spectro's CMake package, shipped inside the installed Python package:
#
#   cmake -DCMAKE_PREFIX_PATH="$(python -c 'import torch; print(torch.utils.cmake_prefix_path)');$(python -c 'import spectro; print(spectro.cmake_prefix_path)')" ...
#
#   find_package(spectro REQUIRED)        # also finds Torch
#   target_link_libraries(app PRIVATE spectro::spectro)
#
# spectro::spectro is the operator library spectro/lib/libspectro.so (every op, kernel and autograd formula, and the
# C++ API of <spectro/spectro.h>), built by `pip install` with the torch the Python package was built against.
get_filename_component(_spectro_package "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

include(CMakeFindDependencyMacro)
find_dependency(Torch)

find_library(SPECTRO_LIBRARY NAMES spectro PATHS "${_spectro_package}/lib" NO_DEFAULT_PATH)
find_path(SPECTRO_INCLUDE_DIR spectro/spectro.h PATHS "${_spectro_package}/include" NO_DEFAULT_PATH)
if(NOT SPECTRO_LIBRARY OR NOT SPECTRO_INCLUDE_DIR)
  set(spectro_FOUND FALSE)
  set(spectro_NOT_FOUND_MESSAGE
      "spectro's library or headers are missing under ${_spectro_package} (build the package: pip install -e .)")
  return()
endif()

if(NOT TARGET spectro::spectro)
  add_library(spectro::spectro SHARED IMPORTED)
  set_target_properties(spectro::spectro PROPERTIES
    IMPORTED_LOCATION "${SPECTRO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SPECTRO_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}"
    # The ops register themselves when the library loads: keep it linked even if a program calls none of its
    # functions directly (it may reach the ops through the dispatcher only).
    INTERFACE_LINK_OPTIONS "LINKER:--no-as-needed")
endif()
set(spectro_INCLUDE_DIRS "${SPECTRO_INCLUDE_DIR}")
set(spectro_LIBRARIES spectro::spectro)
