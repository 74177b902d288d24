pub struct Esm;
