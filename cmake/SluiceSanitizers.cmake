# SLUICE_SANITIZE="address;undefined" or "thread": applied to every target.
if(SLUICE_SANITIZE)
  string(REPLACE ";" "," _sl_san "${SLUICE_SANITIZE}")
  add_compile_options(-fsanitize=${_sl_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_sl_san})
endif()
