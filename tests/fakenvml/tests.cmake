# The fake libnvidia-ml the GPU collector tests dlopen (see fake_nvml.c).
# Named libnvidia-ml.so.1 like the real one; it lives in the build tree only
# and is never on the loader's search path.
add_library(fake_nvml SHARED ${CMAKE_CURRENT_LIST_DIR}/fake_nvml.c)
set_target_properties(fake_nvml PROPERTIES
  OUTPUT_NAME nvidia-ml
  SOVERSION 1
  C_VISIBILITY_PRESET hidden
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fakenvml)
if(TARGET exporter_test)
  add_dependencies(exporter_test fake_nvml)
  target_compile_definitions(exporter_test PRIVATE
    PROPMON_FAKE_NVML_PATH="${CMAKE_CURRENT_BINARY_DIR}/fakenvml/libnvidia-ml.so.1")
endif()
