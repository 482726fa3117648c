/** Injection tokens of the Retriever app. */
export const RETRIEVER_TRANSCRIPT = Symbol('RetrieverTranscript');
